#!/usr/bin/env bash
# orsctl validate/run: exit statuses and the output contract (README "orsctl").
set -u
ORSCTL=$1
DATA=$2
EXAMPLES=$3
fails=0
check() {  # name expected-status actual-status output expected-substring
  if [ "$2" != "$3" ]; then echo "FAIL $1: exit $3, expected $2"; echo "$4"; fails=$((fails+1)); return; fi
  if [ -n "$5" ] && ! grep -qF -- "$5" <<<"$4"; then echo "FAIL $1: output lacks '$5'"; echo "$4"; fails=$((fails+1)); return; fi
  echo "ok $1"
}
out=$("$ORSCTL" validate "$EXAMPLES/routing.scxml" 2>&1); check validate-ok 0 $? "$out" ""
out=$("$ORSCTL" validate "$DATA/invalid.scxml" 2>&1); st=$?
check validate-target 1 $st "$out" "invalid.scxml:4:5: error: unknown target state 'nowhere'"
check validate-dup 1 $st "$out" "invalid.scxml:6:3: error: duplicate state id 'a'"
check validate-unknown 1 $st "$out" "invalid.scxml:7:17: error: unexpected <frob> in <final>"
out=$("$ORSCTL" run "$DATA/invalid.scxml" 2>&1); check run-invalid 1 $? "$out" "error: unknown target state"
out=$("$ORSCTL" run "$DATA/counter.scxml" --trace --event inc --event 'inc={"by":5}' --event check 2>&1); st=$?
check run-final 0 $st "$out" "final: big"
check run-trace 0 $st "$out" '{"event":"inc","configuration":["run"]}'
check run-trace-initial 0 $st "$out" '{"event":null,"configuration":["run"]}'
check run-log 0 $st "$out" "n: 6"
out=$("$ORSCTL" run "$DATA/counter.scxml" --event inc 2>/dev/null); check run-stable 3 $? "$out" "stable: run"
tmp=$(mktemp); printf 'inc\n# comment\ninc {"by": 2}\ncheck\n' >"$tmp"
out=$("$ORSCTL" run "$DATA/counter.scxml" --events "$tmp" 2>&1); check run-events-file 0 $? "$out" "n: 3"; rm -f "$tmp"
out=$("$ORSCTL" run "$DATA/counter.scxml" --event 'inc={bad' 2>&1); check run-bad-json 1 $? "$out" "invalid JSON"
# A runaway script is interrupted (error.execution) and the session goes on.
out=$("$ORSCTL" run "$DATA/counter.scxml" --event loop --event check 2>&1); check run-runaway 0 $? "$out" "final: big"
out=$("$ORSCTL" run "$EXAMPLES/routing.scxml" --event 'call.ringing={"ani":"1"}' --timeout 0.3 2>&1); check run-timeout 2 $? "$out" ""
out=$("$ORSCTL" run "$EXAMPLES/routing.scxml" --event 'call.ringing={"ani":"1"}' --event 'agent.ready={"agent":"7"}' 2>&1)
check run-example 0 $? "$out" "routed to: 7"
# The vendor's session actions in-process: <session:start>, done.scxml, <session:terminate>, <session:fetch>.
out=$("$ORSCTL" run "$DATA/starter.scxml" 2>&1); check run-session-actions 0 $? "$out" "final: pass"
# A child terminating its starter inside the starter's own macrostep: deferred, no crash; the
# terminated starter ends without a final state, so the run is "stable" with nothing active.
out=$("$ORSCTL" run "$DATA/parent_of_patricide.scxml" 2>&1); check run-terminate-starter 3 $? "$out" "still: running"
# The vendor's dialect (profile=, expressions in event/delay/sendid, <raise> with <param>, ...).
out=$("$ORSCTL" run "$DATA/dialect.scxml" 2>&1); check run-dialect 0 $? "$out" "final: pass"
# A project shaped like a generated one: XInclude of its script library (text) and of its workflow
# (one state of another document, under a prefix).
out=$("$ORSCTL" run "$DATA/composer/src-gen/IPD_default_defaultWorkflow.scxml" 2>&1); check run-composer-project 0 $? "$out" "final: pass"
# The vendor's object model: _genesys.ixn.interactions as the interaction events make it, _genesys.session.
out=$("$ORSCTL" run "$DATA/genesys.scxml" \
  --event 'interaction.added={"interactionid":"I1","interaction":{"voice":{"ani":"5550100"},"udata":{"lang":"en"}}}' \
  --event check --event 'interaction.udata.changed={"interactionid":"I1","udata":{"lang":"fr"}}' \
  --event 'interaction.deleted={"interactionid":"I1"}' 2>&1)
check run-genesys-object-model 0 $? "$out" "final: pass"
echo "$(( 20 - fails )) passed, $fails failed"
[ $fails = 0 ]
