"""DNS for mail: the records to publish (``records``) and an audit of what is published (``audit``).

Pure code: no pyinfra import here (DESIGN.md section 1).
"""
