"""Device tooling: flash a Daisy Patch app, monitor the running inference app, and the
inference app emulated on this machine for ``monitor --emulate``."""
