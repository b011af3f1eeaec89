"""Commerce: customers (CNPJ), catalog and orders, served over gRPC."""
