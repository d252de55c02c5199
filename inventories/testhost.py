"""The running local test hosts (`mailforge testhost up NAME`), as pyinfra hosts over SSH.

    pyinfra inventories/testhost.py deploys/mailserver.py --limit NAME

Each host is named by its test-host name; its address and key come from the state directory
(/var/lib/mailforge, or $MAILFORGE_STATE_DIR).
"""

from mailforge.testhost import StateDir, list_hosts

_state = StateDir()

testhost = [
    (
        h.name,
        {
            "ssh_hostname": h.address,
            "ssh_user": "root",
            "ssh_key": str(_state.ssh_key),
            # Test hosts are recreated at the same addresses with new keys: pinning them would only fail.
            "ssh_known_hosts_file": "/dev/null",
            "ssh_strict_host_key_checking": "off",
            "mail_hostname": f"{h.name}.example.test",
        },
    )
    for h in list_hosts(_state)
    if h.state == "running"
]
