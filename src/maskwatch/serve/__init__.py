"""``maskwatch serve``: HTTP (FastAPI) and gRPC APIs and a web page, on one Detector."""
