#!/bin/sh
# The onair CLI of the Linux package: the desktop app's binary holds it too.
ONAIR_AS_CLI=1 exec /usr/bin/onair-desktop "$@"
