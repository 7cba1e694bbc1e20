"""coserve: Amazon SageMaker multi-container endpoints on a host of your own."""
