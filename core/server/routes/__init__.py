"""The API's routes, one ``APIRouter`` per area; each route only maps HTTP to a service from ``app_state``."""
