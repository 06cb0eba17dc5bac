"""The brains: which tool answers a request. `builtin` works offline; Ollama arrives in a later issue."""
