#!/bin/sh
# The test git server (image git-server): sshd with one account, git, whose login shell is git-shell (clone and
# fetch only). Its host key and the clients' public keys come from /keys (a Secret the test makes):
# /keys/ssh_host_ed25519_key and /keys/authorized_keys. Repositories are read from /srv/git.
set -eu
install -d -m 755 /run/sshd
install -m 600 /keys/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key
install -d -m 700 -o git -g git /home/git/.ssh
install -m 600 -o git -g git /keys/authorized_keys /home/git/.ssh/authorized_keys
exec /usr/sbin/sshd -D -e -p "${PORT:-22}" \
  -o HostKey=/etc/ssh/ssh_host_ed25519_key \
  -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o PermitRootLogin=no \
  -o AllowUsers=git -o UsePAM=no
