"""TorchServe's container entry point (`python -m servers.torchserve.launch`)."""
