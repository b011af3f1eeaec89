"""gRPC transport: servicers that convert protobuf <-> domain and delegate to the services."""
