"""Example production inventory: real servers over SSH. Copy and edit.

pyinfra inventories/prod.py deploys/mailserver.py
"""

mailservers = [
    (
        "mail.example.org",
        {
            "ssh_user": "root",
            # Per-host values override group_data/all.py.
            "mail_hostname": "mail.example.org",
        },
    ),
]
