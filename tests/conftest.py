pytest_plugins = ["jupyter_ext.pytest_plugin", "student_fixtures", "relay_fixtures", "hub_fixtures", "netns_fixtures"]
