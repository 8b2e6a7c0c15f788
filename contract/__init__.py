"""What the gateway and the server both read from the API contract (the protos), defined once.

Imports only the generated `hxtp` modules, protobuf and the standard library, so the gateway can use
it without importing the server and the server's error registry stays free of grpc.
"""
