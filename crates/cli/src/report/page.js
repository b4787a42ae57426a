// tlsscope report: the interactive parts. Everything else on the page is
// static HTML. Reads the data from #report-data, then: a message chosen in
// the step list or the ladder shows its field tree and its bytes; a field
// chosen in the tree highlights its bytes. Builds the DOM with textContent
// only: the data comes from a capture and is never parsed as HTML.
(function () {
  'use strict';
  var dataEl = document.getElementById('report-data');
  if (!dataEl) return;
  var data;
  try {
    data = JSON.parse(dataEl.textContent);
  } catch (e) {
    return;
  }
  var ui = data.ui || {};
  var details = {};
  (data.details || []).forEach(function (d) { details[d.id] = d; });

  function t(key, vals) {
    var s = ui[key] || key;
    if (vals) {
      Object.keys(vals).forEach(function (k) { s = s.split('{' + k + '}').join(String(vals[k])); });
    }
    return s;
  }

  function h(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function hex2(b) { return (b < 16 ? '0' : '') + b.toString(16); }
  function hex4(n) { var s = n.toString(16); while (s.length < 4) s = '0' + s; return s; }

  function decode(b64) {
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // The session table's filter (hidden without JavaScript).
  var filter = document.getElementById('filter');
  if (filter) {
    var wrap = filter.closest('.filter');
    if (wrap) wrap.hidden = false;
    var table = document.getElementById(filter.getAttribute('data-table'));
    var rows = table && table.tBodies[0] ? table.tBodies[0].rows : [];
    var texts = null;
    filter.addEventListener('input', function () {
      var fold = table && table.closest('details');
      if (fold) fold.open = true;
      if (!texts) {
        texts = [];
        for (var i = 0; i < rows.length; i++) texts.push(rows[i].textContent.toLowerCase());
      }
      var q = filter.value.trim().toLowerCase();
      for (var j = 0; j < rows.length; j++) rows[j].hidden = q !== '' && texts[j].indexOf(q) < 0;
    });
    document.addEventListener('keydown', function (ev) {
      var tag = ev.target && ev.target.tagName;
      if (ev.key === '/' && tag !== 'INPUT' && tag !== 'TEXTAREA') {
        ev.preventDefault();
        filter.focus();
      }
    });
  }

  // The hex view: 16 bytes a row, offset, hex, ASCII; each byte a span
  // so that a field's bytes can be marked.
  function renderHex(box, bytes) {
    box.textContent = '';
    box._b = [];
    box._a = [];
    box._hl = [];
    var frag = document.createDocumentFragment();
    for (var off = 0; off < bytes.length; off += 16) {
      var row = h('div', 'row');
      row.appendChild(h('span', 'off', hex4(off)));
      var asc = h('span', 'asc');
      for (var i = 0; i < 16; i++) {
        var o = off + i;
        if (o < bytes.length) {
          var b = h('span', 'b', hex2(bytes[o]));
          b.setAttribute('data-o', String(o));
          row.appendChild(b);
          box._b[o] = b;
          var c = bytes[o];
          var a = h('span', 'a', c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.');
          asc.appendChild(a);
          box._a[o] = a;
        } else {
          row.appendChild(document.createTextNode('  '));
        }
        row.appendChild(document.createTextNode(i === 7 ? '  ' : ' '));
      }
      row.appendChild(asc);
      frag.appendChild(row);
    }
    box.appendChild(frag);
  }

  function where(msg, start) {
    var ps = msg.pieces || [];
    for (var i = 0; i < ps.length; i++) {
      var p = ps[i];
      if (start >= p[0] && start < p[0] + p[3]) {
        return msg.decrypted
          ? t('report.js.frame_decrypted', { frame: p[1] })
          : t('report.js.frame', { frame: p[1], offset: p[2] + (start - p[0]) });
      }
    }
    return '';
  }

  function highlight(insp, msg, f, button) {
    var hex = insp.querySelector('.hex');
    var info = insp.querySelector('.field-info');
    (hex._hl || []).forEach(function (e) { e.classList.remove('hl'); });
    hex._hl = [];
    insp.querySelectorAll('button.field.active').forEach(function (b) { b.classList.remove('active'); });
    button.classList.add('active');
    var start = f.span.start;
    var end = f.span.start + f.span.len;
    var first = null;
    for (var o = start; o < end; o++) {
      var b = hex._b && hex._b[o];
      var a = hex._a && hex._a[o];
      if (b) { b.classList.add('hl'); hex._hl.push(b); if (!first) first = b; }
      if (a) { a.classList.add('hl'); hex._hl.push(a); }
    }
    if (first && first.scrollIntoView) first.scrollIntoView({ block: 'nearest' });
    var text = t('report.js.span', { label: f.label, start: start, end: Math.max(start, end - 1), len: f.span.len });
    var w = where(msg, start);
    info.textContent = w ? text + '; ' + w : text;
  }

  // The field tree: nested lists of buttons. Up/Down move between the
  // visible fields, Left/Right fold and unfold, Enter or Space picks.
  function fieldNode(f, pick) {
    var li = h('li');
    var kids = f.children || [];
    var tw = h(kids.length ? 'button' : 'span', 'twisty', kids.length ? '▾' : '');
    if (kids.length) {
      tw.type = 'button';
      tw.tabIndex = -1;
      tw.setAttribute('aria-expanded', 'true');
      tw.setAttribute('aria-label', f.label);
      tw.addEventListener('click', function () { fold(li, !li.classList.contains('collapsed')); });
    }
    li.appendChild(tw);
    var b = h('button', 'field', f.value ? f.label + ': ' + f.value : f.label);
    b.type = 'button';
    b.tabIndex = -1;
    b.setAttribute('data-key', f.key);
    b.setAttribute('data-start', String(f.span.start));
    b.setAttribute('data-len', String(f.span.len));
    b.addEventListener('click', function () { pick(f, b); });
    li.appendChild(b);
    (f.notes || []).forEach(function (n) { li.appendChild(h('span', 'fnote', n)); });
    if (kids.length) {
      var ul = h('ul');
      kids.forEach(function (k) { ul.appendChild(fieldNode(k, pick)); });
      li.appendChild(ul);
    }
    return li;
  }

  function fold(li, collapse) {
    var tw = li.querySelector(':scope > .twisty');
    if (!tw || tw.tagName !== 'BUTTON') return;
    li.classList.toggle('collapsed', collapse);
    tw.textContent = collapse ? '▸' : '▾';
    tw.setAttribute('aria-expanded', collapse ? 'false' : 'true');
  }

  function visibleFields(tree) {
    return Array.prototype.filter.call(tree.querySelectorAll('button.field'), function (b) {
      return b.offsetParent !== null;
    });
  }

  function renderTree(tree, fields, pick) {
    tree.textContent = '';
    var ul = h('ul');
    ul.setAttribute('aria-label', t('report.js.fields'));
    fields.forEach(function (f) { ul.appendChild(fieldNode(f, pick)); });
    tree.appendChild(ul);
    var firstField = tree.querySelector('button.field');
    if (firstField) firstField.tabIndex = 0;
    tree.onkeydown = function (ev) {
      var cur = ev.target.closest && ev.target.closest('button.field');
      if (!cur) return;
      var list = visibleFields(tree);
      var i = list.indexOf(cur);
      var li = cur.parentNode;
      var next = null;
      if (ev.key === 'ArrowDown') next = list[i + 1];
      else if (ev.key === 'ArrowUp') next = list[i - 1];
      else if (ev.key === 'Home') next = list[0];
      else if (ev.key === 'End') next = list[list.length - 1];
      else if (ev.key === 'ArrowRight') fold(li, false);
      else if (ev.key === 'ArrowLeft') {
        if (li.querySelector(':scope > ul') && !li.classList.contains('collapsed')) fold(li, true);
        else {
          var up = li.parentNode.closest('li');
          if (up) next = up.querySelector(':scope > button.field');
        }
      } else return;
      ev.preventDefault();
      if (next) {
        cur.tabIndex = -1;
        next.tabIndex = 0;
        next.focus();
      }
    };
  }

  function select(sid, m) {
    var d = details[sid];
    var sec = document.getElementById('s' + sid);
    var insp = document.getElementById('insp-' + sid);
    if (!d || !sec || !insp) return;
    var st = d.steps[m];
    if (!st) return;
    sec.querySelectorAll('.selected').forEach(function (e) { e.classList.remove('selected'); });
    sec.querySelectorAll('button.msg[aria-pressed="true"]').forEach(function (b) {
      b.setAttribute('aria-pressed', 'false');
    });
    var li = document.getElementById('s' + sid + '-m' + m);
    if (li) {
      li.classList.add('selected');
      var btn = li.querySelector('button.msg');
      if (btn) btn.setAttribute('aria-pressed', 'true');
    }
    var arrow = sec.querySelector('svg.ladder a.step[data-m="' + m + '"]');
    if (arrow) arrow.classList.add('selected');
    var title = insp.querySelector('.insp-title');
    var tree = insp.querySelector('.tree');
    var info = insp.querySelector('.field-info');
    var hex = insp.querySelector('.hex');
    title.textContent = '(' + st.n + ') ' + t('report.js.shown', { name: st.name, len: st.len });
    tree.textContent = '';
    hex.textContent = '';
    hex._b = [];
    hex._a = [];
    hex._hl = [];
    info.textContent = '';
    var msg = st.message;
    if (!msg) {
      info.textContent = st.protection === 'encrypted' ? t('report.js.encrypted') : t('report.js.no_bytes');
      return;
    }
    if (msg.bytes) renderHex(hex, decode(msg.bytes));
    else info.textContent = t('report.js.too_long', { n: data.limits.message_bytes });
    renderTree(tree, msg.fields || [], function (f, b) { highlight(insp, msg, f, b); });
  }

  document.querySelectorAll('section.session').forEach(function (sec) {
    var sid = Number(sec.getAttribute('data-session'));
    var list = sec.querySelector('ol.steps');
    sec.querySelectorAll('button.msg').forEach(function (b) {
      b.addEventListener('click', function () { select(sid, Number(b.getAttribute('data-m'))); });
    });
    sec.querySelectorAll('svg.ladder a.step').forEach(function (a) {
      a.addEventListener('click', function () { select(sid, Number(a.getAttribute('data-m'))); });
    });
    if (list) {
      // Up/Down in the step list move to the next message and show it.
      list.addEventListener('keydown', function (ev) {
        var cur = ev.target.closest && ev.target.closest('button.msg');
        if (!cur) return;
        var all = Array.prototype.slice.call(list.querySelectorAll('button.msg'));
        var i = all.indexOf(cur);
        var next = null;
        if (ev.key === 'ArrowDown') next = all[i + 1];
        else if (ev.key === 'ArrowUp') next = all[i - 1];
        else if (ev.key === 'Home') next = all[0];
        else if (ev.key === 'End') next = all[all.length - 1];
        else return;
        ev.preventDefault();
        if (next) {
          next.focus();
          select(sid, Number(next.getAttribute('data-m')));
        }
      });
    }
  });
})();
