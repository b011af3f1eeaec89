"""One module per wire format; each turns its SDK's stream and errors into the neutral types."""
