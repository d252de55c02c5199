"""The Vagrant VM of the Vagrantfile (`vagrant up` provisions it; this file re-runs the deploy by hand).

pyinfra inventories/vagrant.py deploys/mailserver.py
"""

vagrant = [
    (
        "@vagrant/mailforge",
        {
            "mail_hostname": "mail.example.test",
        },
    ),
]
