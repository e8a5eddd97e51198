"""The server's routes, one module per surface; :func:`maskwatch.serve.app.create_app` wires them."""
