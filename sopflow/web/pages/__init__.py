"""The console's pages, one module per resource; each adds its routes to the router."""
