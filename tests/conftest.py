pytest_plugins = ["jupyter_ext.pytest_plugin"]
