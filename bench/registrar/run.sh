#!/bin/bash
# sipfleet alone through bench/registrar/compare.sh: phones created through the REST API,
# first registrations and refreshes measured apart (see compare.sh for every setting).
# A figure that matters is a ratio to Kamailio measured in the same run: use compare.sh.
#
#   NUSERS=2000 bench/registrar/run.sh
exec env SERVERS=sipfleet bash "$(dirname "$(readlink -f "$0")")/compare.sh" "$@"
