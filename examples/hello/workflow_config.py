"""Configuration of the hello example: the worker and the build read this file."""

from workflow_studio import define_config

config = define_config(
    workflows=["hello_workflows"],
)
