// Switchboard's chat page. One WebSocket text frame is one line, both ways; the server's lines are the
// same as telnet's (`<nick> text`, `* notice`, `! error`, `*nick* private`, `-> nick: private`).
// Everything the server sends is put on the page as text (textContent), never as markup.
'use strict';

(function () {
  const log = document.getElementById('log');
  const form = document.getElementById('form');
  const input = document.getElementById('say');
  const send = document.getElementById('send');
  const status = document.getElementById('status');
  const count = document.getElementById('count');
  const membersList = document.getElementById('members');
  const maxLine = parseInt(document.body.dataset.maxLine, 10) || 1024;
  const encoder = new TextEncoder();

  const maxLogLines = 2000;
  let socket = null;
  let retryDelay = 1000;        // doubles up to maxRetryDelay after each failed attempt
  const maxRetryDelay = 30000;
  let myNick = null;
  let members = new Set();
  let pendingWho = 0;           // replies to our own /who to keep out of the log
  let inHistory = false;        // from the welcome to the end of the history replayed on join (`* end of history`)
  const sent = [];              // what the user sent, for ↑/↓
  let sentIndex = 0;

  // The same nickname gets the same colour everywhere (a hash of its lower-case form picks a hue).
  function hue(nick) {
    let h = 2166136261;
    const s = nick.toLowerCase();
    for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
    return (h >>> 0) % 360;
  }
  function nickSpan(nick) {
    const span = document.createElement('span');
    span.className = 'nick';
    span.textContent = nick;
    span.style.color = 'hsl(' + hue(nick) + ' 65% 42%)';
    return span;
  }

  function append(item) {
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.appendChild(item);
    while (log.childElementCount > maxLogLines) log.removeChild(log.firstElementChild);
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  // One server line as a list item: the nickname coloured, the rest as text.
  function render(line, extraClass) {
    const li = document.createElement('li');
    if (extraClass) li.classList.add(extraClass);
    let m;
    if ((m = /^(\[[^\]]*\] )<([^>\s]+)> ([\s\S]*)$/.exec(line))) {            // history: [time] <nick> text
      li.append(m[1], '<', nickSpan(m[2]), '> ', m[3]);
    } else if ((m = /^<([^>\s]+)> ([\s\S]*)$/.exec(line))) {                  // chat
      li.append('<', nickSpan(m[1]), '> ', m[2]);
      li.classList.add('said');
    } else if ((m = /^\*([^*\s]+)\* ([\s\S]*)$/.exec(line))) {                // a private message to me
      li.classList.add('private');
      li.append('*', nickSpan(m[1]), '* ', m[2]);
    } else if ((m = /^-> ([^:\s]+): ([\s\S]*)$/.exec(line))) {                // one I sent
      li.classList.add('private');
      li.append('-> ', nickSpan(m[1]), ': ', m[2]);
    } else if (line.startsWith('! ')) {
      li.classList.add('error');
      li.textContent = line;
    } else if (line.startsWith('* ')) {
      li.classList.add('notice');
      li.textContent = line;
    } else {
      li.textContent = line;
    }
    append(li);
  }

  function showMyLine(text) {
    const li = document.createElement('li');
    li.classList.add('self', 'said');
    li.append('<', nickSpan(myNick || 'me'), '> ', text);
    append(li);
  }

  function setCount(n) {
    count.textContent = n + (n === 1 ? ' client connected' : ' clients connected');
  }

  function renderMembers() {
    const names = Array.from(members).sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
    membersList.replaceChildren(...names.map((name) => {
      const li = document.createElement('li');
      li.textContent = name + (name === myNick ? ' (you)' : '');
      li.style.color = 'hsl(' + hue(name) + ' 65% 42%)';
      return li;
    }));
  }

  function askWho() {
    pendingWho++;
    transmit('/who');
  }

  // Reads what a line says about who is here; returns true when the line is ours to hide.
  function track(line) {
    let m;
    if ((m = /^\* Welcome, (\S+)! (\d+) clients? connected/.exec(line))) {
      myNick = m[1];
      members = new Set([myNick]);
      setCount(+m[2]);
      renderMembers();
      askWho();
      // The server replays the recent lines itself after the welcome (--history-on-join); asking with
      // /history as well would show them twice.
      inHistory = true;
      return false;
    }
    if ((m = /^\* (\d+) connected: (.*)$/.exec(line)) && pendingWho > 0) {
      pendingWho--;
      members = new Set(m[2].split(', ').filter((name) => /^[A-Za-z0-9_-]+$/.test(name)));
      setCount(+m[1]);
      renderMembers();
      return true;
    }
    if ((m = /^\* (\S+) joined \((\d+) clients? connected\)$/.exec(line))) {
      members.add(m[1]); setCount(+m[2]); renderMembers(); return false;
    }
    if ((m = /^\* (\S+) left \(.*\) \((\d+) clients? connected\)$/.exec(line))) {
      members.delete(m[1]); setCount(+m[2]); renderMembers(); return false;
    }
    if ((m = /^\* (\d+) joined, (\d+) left \((\d+) clients? connected\)$/.exec(line))) {
      setCount(+m[3]); askWho(); return false;                   // a crowd: ask for the names again
    }
    if ((m = /^\* (\S+) is now known as (\S+)$/.exec(line))) {
      members.delete(m[1]); members.add(m[2]);
      if (m[1] === myNick) myNick = m[2];
      renderMembers(); return false;
    }
    if ((m = /^\* back in contact with the other servers \((\d+) clients? connected\)$/.exec(line))) {
      setCount(+m[1]); askWho(); return false;
    }
    if ((m = /^\* (\d+) clients? connected, \d+ visits? in total$/.exec(line))) {
      setCount(+m[1]); return false;
    }
    return false;
  }

  function receive(line) {
    if (inHistory) {
      if (line === '* end of history') { inHistory = false; return; }
      if (/^\[[^\]]*\] /.test(line) || line.startsWith('* showing')) { render(line, 'history'); return; }
    }
    if (track(line)) return;
    render(line);
  }

  function transmit(line) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(line);
  }

  function setConnected(connected) {
    input.disabled = !connected;
    send.disabled = !connected;
    // Keyboard users land in the message box (a disabled box cannot take the focus, so this waits for the
    // connection), unless they have moved elsewhere meanwhile.
    if (connected && (document.activeElement === null || document.activeElement === document.body)) input.focus();
  }

  function connect() {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat';
    status.textContent = 'Connecting…';
    socket = new WebSocket(url);
    socket.addEventListener('open', () => {
      retryDelay = 1000;
      status.textContent = 'Connected';
      setConnected(true);
      pendingWho = 0;
      inHistory = false;
    });
    socket.addEventListener('message', (event) => {
      if (typeof event.data === 'string') receive(event.data);
    });
    socket.addEventListener('close', (event) => {
      setConnected(false);
      members = new Set();
      renderMembers();
      // Jitter spreads a crowd's reconnects after a restart.
      const wait = Math.round(retryDelay * (0.75 + Math.random() * 0.5));
      status.textContent = 'Disconnected' + (event.reason ? ' (' + event.reason + ')' : '') +
        '; trying again in ' + Math.round(wait / 1000) + ' s';
      document.body.dataset.state = 'disconnected';
      retryDelay = Math.min(retryDelay * 2, maxRetryDelay);
      setTimeout(connect, wait);
    });
    socket.addEventListener('open', () => { document.body.dataset.state = 'connected'; });
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value;
    if (text === '' || !socket || socket.readyState !== WebSocket.OPEN) return;
    if (encoder.encode(text).length > maxLine) {
      render('! line too long (max ' + maxLine + ' bytes); not sent', 'error');
      return;
    }
    transmit(text);
    if (!text.startsWith('/') || text.startsWith('//')) showMyLine(text.startsWith('//') ? text.slice(1) : text);
    if (sent[sent.length - 1] !== text) sent.push(text);
    if (sent.length > 100) sent.shift();
    sentIndex = sent.length;
    input.value = '';
  });

  input.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowUp' && sentIndex > 0) {
      sentIndex--;
      input.value = sent[sentIndex];
      event.preventDefault();
    } else if (event.key === 'ArrowDown' && sentIndex < sent.length) {
      sentIndex++;
      input.value = sentIndex < sent.length ? sent[sentIndex] : '';
      event.preventDefault();
    }
  });

  connect();
})();
