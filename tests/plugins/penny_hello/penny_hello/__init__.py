"""A third-party Penny tool: greets someone by name, from the caller's tenant."""

from pydantic import BaseModel, Field

from penny_jupyter.tools.base import Tool, ToolResult


class HelloParams(BaseModel):
    name: str = Field(min_length=1, max_length=40, description="Who to greet.")


def hello(ctx, params: HelloParams) -> ToolResult:
    greeting = f"Hello, {params.name}, from {ctx.principal.tenant}!"
    return ToolResult(text=greeting, data={"greeting": greeting}, row_count=1)


HELLO = Tool(name="hello", title="Hello", description="Say hello to someone.", params=HelloParams, run=hello)
