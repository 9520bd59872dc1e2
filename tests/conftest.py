pytest_plugins = ["jupyter_ext.pytest_plugin", "student_fixtures", "relay_fixtures", "netns_fixtures"]
