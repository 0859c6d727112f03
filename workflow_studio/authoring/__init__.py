"""The authoring SDK: decorators and helpers workflow code imports from ``workflow_studio``."""
