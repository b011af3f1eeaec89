"""gRPC server bootstrap, interceptors and client helpers."""
