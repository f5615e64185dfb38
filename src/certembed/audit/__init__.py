"""``certembed audit``: which OpenSSL and which CAs an app, a Python or a wheel really carries."""
