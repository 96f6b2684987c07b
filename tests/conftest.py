pytest_plugins = ["txi2p.testing.pytest_plugin"]
