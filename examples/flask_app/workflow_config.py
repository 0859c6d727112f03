"""Configuration of the Flask example: `workflow-studio deploy` builds the packages listed
here; a worker started in this folder reads it too."""

from workflow_studio import define_config

config = define_config(
    workflows=["shop_workflows"],
)
