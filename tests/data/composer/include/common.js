// A project's JavaScript library, included as text (XML markup here is plain text: a < b).
function greeting(who) { return 'hello, ' + who; }
function epochNow() { return Date.now() > 0 ? Math.floor(Date.now() / 1000) : 0; }
