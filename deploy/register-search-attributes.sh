#!/usr/bin/env bash
# Register ucrenew's search attributes on a Temporal namespace (idempotent: an attribute that
# already exists with the same type is left alone). Needs the `temporal` CLI.
#   TEMPORAL_ADDRESS=temporal.example.net:7233 ./register-search-attributes.sh [namespace]
set -euo pipefail
ns=${1:-default}
for spec in RenewalPhase=Keyword ClusterId=Keyword CertPurposes=KeywordList ChangeId=Keyword \
            CertNotAfter=Datetime RenewalAwaiting=Keyword \
            RenewalOutstanding=KeywordList RenewalRequester=Keyword \
            RenewalWaitingOn=KeywordList RenewalDeadline=Datetime RenewalProgress=Keyword; do
  name=${spec%%=*}; type=${spec#*=}
  if temporal operator search-attribute list --namespace "$ns" | grep -qw "$name"; then
    echo "$name already registered"
  else
    temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type"
  fi
done
