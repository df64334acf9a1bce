"""The netspec model zoo: YAML specs shipped as package data (``netspec build resnet18``)."""
