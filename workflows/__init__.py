"""What people and the weekly job do with the data: the weekly scoring job, safeguarding alerts, users and
tokens, the audit log, privacy (retention, subject export and erasure) and backup.

Both the JSON API and the web pages (``serving``) and the command line call these functions, so no
behaviour exists only in a page. This room imports ``data``, ``features``, ``models`` and ``settings``;
never ``serving``, ``training`` or the command line.
"""
