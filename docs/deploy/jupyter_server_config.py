# Jupyter server config for every user's server (docker-compose.yml mounts it as a system
# config file). Teachers' sessions advertise the relays; students' servers read from them.
c = get_config()  # noqa: F821 (provided by Jupyter)

c.CodeStreamApp.relay_url = "http://relay-lb:8080/"
