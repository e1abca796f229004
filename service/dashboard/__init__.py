"""What people see: the in-flight list, a renewal's page and the fleet page, their JSON read
API and the live updates (server-sent events)."""

from service.dashboard.router import router

__all__ = ["router"]
