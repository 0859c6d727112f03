"""A tiny workflow: greet someone in two checkpointed steps."""

from workflow_studio import step, workflow


@step
def make_greeting(name: str) -> str:
    return f"Hello, {name}!"


@step(max_retries=5)
def shout(text: str) -> str:
    return text.upper()


@workflow
def greet(name: str = "world") -> dict:
    greeting = make_greeting(name)
    return {"greeting": greeting, "loud": shout(greeting)}
