"""Tools: typed functions over a tenant's data, run only through the executor."""
