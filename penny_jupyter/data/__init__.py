"""Company data: per-tenant DuckDB warehouses, the demo generator and the metrics catalog."""
