"""Reading deploy/: the Kubernetes documents, the compose file, the Dockerfile's instructions,
and the commands and ``UCRENEW_*`` names each of them uses."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
README = DEPLOY / "README.md"

#: The image built from deploy/Dockerfile, as the manifests and the compose file name it.
UCRENEW_IMAGE = re.compile(r"^ucrenew:\d+\.\d+\.\d+$")


def wheel_packages() -> set[str]:
    """The top-level packages ucrenew's wheel (and so the image) holds, as pyproject.toml's
    ``[tool.setuptools.packages.find]`` selects them."""
    from setuptools import find_packages

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    return {p for p in find_packages(str(ROOT), include=include) if "." not in p}


POD_OWNERS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes document in deploy/k8s, with its file."""
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path, doc))
    return docs


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template's spec of a workload (``None`` for anything else)."""
    if doc.get("kind") == "Pod":
        spec: dict[str, Any] = doc["spec"]
        return spec
    if doc.get("kind") in POD_OWNERS:
        template: dict[str, Any] = doc["spec"]["template"]["spec"]
        return template
    if doc.get("kind") == "CronJob":
        job: dict[str, Any] = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return job
    return None


def all_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Containers, init containers and ephemeral containers of a pod spec."""
    return [
        *spec.get("containers", []),
        *spec.get("initContainers", []),
        *spec.get("ephemeralContainers", []),
    ]


def compose_data() -> dict[str, Any]:
    """The compose file with YAML anchors and merge keys resolved, as ``docker compose``
    reads it."""
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def compose_json() -> str:
    """:func:`compose_data` as JSON, for the compose-spec parser."""
    return json.dumps(compose_data())


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    args: str
    line: int


def dockerfile_instructions(text: str | None = None) -> list[Instruction]:
    """The Dockerfile's instructions (comments dropped, ``\\`` continuations joined)."""
    source = DOCKERFILE.read_text() if text is None else text
    out: list[Instruction] = []
    buffer, start = "", 0
    for number, raw in enumerate(source.splitlines(), 1):
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if buffer and line.startswith("#"):
            continue
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        keyword, _, args = buffer.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buffer = ""
    return out


def exec_form(args: str) -> list[str]:
    """A ``CMD``/``ENTRYPOINT`` argument list (JSON exec form, else shell words)."""
    if args.startswith("["):
        parsed: list[str] = json.loads(args)
        return parsed
    return shlex.split(args)


@dataclass(frozen=True)
class Command:
    """A command one of deploy/'s files runs in the ucrenew image."""

    where: str
    argv: tuple[str, ...]


def ucrenew_commands() -> Iterator[Command]:
    """Every command run in the ucrenew image: the Dockerfile's CMD/ENTRYPOINT, the
    manifests' containers and the compose services built on the image."""
    for ins in dockerfile_instructions():
        if ins.keyword in ("CMD", "ENTRYPOINT"):
            yield Command(f"Dockerfile:{ins.line}", tuple(exec_form(ins.args)))
    for path, doc in k8s_documents():
        spec = pod_spec(doc)
        if spec is None:
            continue
        for container in all_containers(spec):
            if UCRENEW_IMAGE.match(container.get("image", "")):
                argv = [*container.get("command", []), *container.get("args", [])]
                if argv:
                    yield Command(f"{path.name}:{container['name']}", tuple(argv))
    for name, service in compose_data()["services"].items():
        if UCRENEW_IMAGE.match(service.get("image", "")) and "command" in service:
            command = service["command"]
            argv = command if isinstance(command, list) else shlex.split(command)
            yield Command(f"compose.yaml:{name}", tuple(argv))


ENV_NAME = re.compile(r"\b(UCRENEW_[A-Z0-9_]+)\b")


def deploy_env_names() -> dict[str, set[str]]:
    """Every ``UCRENEW_*`` variable deploy/ sets, with the files that set it: the manifests'
    ``env``, the compose services' ``environment`` and the Dockerfile's ``ENV``."""
    found: dict[str, set[str]] = {}

    def add(name: str, where: str) -> None:
        found.setdefault(name, set()).add(where)

    for path, doc in k8s_documents():
        spec = pod_spec(doc)
        for container in all_containers(spec) if spec else []:
            for entry in container.get("env", []):
                if entry["name"].startswith("UCRENEW_"):
                    add(entry["name"], path.name)
    for service in compose_data()["services"].values():
        env = service.get("environment", {})
        names = env if isinstance(env, dict) else [e.partition("=")[0] for e in env]
        for env_name in names:
            if env_name.startswith("UCRENEW_"):
                add(env_name, "compose.yaml")
    for ins in dockerfile_instructions():
        if ins.keyword == "ENV":
            for env_name in re.findall(r"(?:^|\s)(UCRENEW_[A-Z0-9_]+)=", ins.args):
                add(env_name, "Dockerfile")
    return found
