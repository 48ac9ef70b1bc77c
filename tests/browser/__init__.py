"""The browser SDK (client_sdk/js) in a real Chromium against the real stack, and CORS."""
