/* Oversight's status page, live: polls the agent's status and history documents every
   data-refresh seconds and redraws the page from them, with the same markup the agent renders
   (agent/reporting/status_page.py: a change to one is a change to the other); keeps the times
   in state ticking; says so, plainly, when the agent stops answering. No framework: every
   text goes in as a text node, so nothing a target says can become markup. */
(function () {
  'use strict';

  var STATES = ['down', 'impacted', 'degraded', 'unknown', 'ok'];
  var CRITICALITIES = ['critical', 'high', 'medium', 'low'];
  var body = document.body;
  var refresh = Math.max(1, Number(body.getAttribute('data-refresh')) || 5) * 1000;
  var generated = Number(body.getAttribute('data-generated')); // agent time of what is shown
  var skew = generated - Date.now() / 1000; // the agent's clock minus ours
  var failure = null; // why the last poll failed, or null
  var polls = 0;
  // the pattern the page shows (?pattern=), asked of both documents: with thousands of
  // integrations an operator watches one pattern, and the page polls only what it shows
  var only = new URLSearchParams(window.location.search).get('pattern');
  var scope = only ? '?pattern=' + encodeURIComponent(only) : '';

  /* -- the twins of agent/reporting/page_text.py -------------------------------------- */

  function forHowLong(seconds) {
    var s = Math.floor(Math.max(0, seconds));
    if (s < 60) return s + 's';
    var m = Math.floor(s / 60);
    if (m < 60) return m + 'm';
    var h = Math.floor(m / 60);
    if (h < 24) return h + 'h ' + (m % 60) + 'm';
    return Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
  }

  function clock(unix) {
    return new Date(unix * 1000).toISOString().slice(11, 19) + ' UTC';
  }

  function millis(seconds) {
    var ms = seconds * 1000;
    return (ms < 10 ? ms.toFixed(1) : ms.toFixed(0)) + ' ms';
  }

  function percent(ratio) {
    if (ratio === null || ratio === undefined) return 'n/a';
    return (ratio * 100).toFixed(1).replace(/\.0$/, '') + '%';
  }

  function rank(table, value) {
    var i = table.indexOf(value);
    return i < 0 ? table.length : i;
  }

  function worstFirst(integrations) {
    return Object.keys(integrations)
      .map(function (name, i) { return [name, integrations[name], i]; })
      .sort(function (a, b) {
        return rank(STATES, a[1].state) - rank(STATES, b[1].state) ||
          rank(CRITICALITIES, a[1].criticality) - rank(CRITICALITIES, b[1].criticality) ||
          a[2] - b[2];
      });
  }

  function worstState(pattern) {
    var worst = 'unknown';
    var best = STATES.length + 1;
    Object.keys(pattern.integrations).forEach(function (name) {
      var state = pattern.integrations[name].state;
      if (rank(STATES, state) < best) { best = rank(STATES, state); worst = state; }
    });
    return worst;
  }

  function pageTitle(summary) {
    var bad = STATES.slice(0, -1)
      .filter(function (s) { return summary[s]; })
      .map(function (s) { return summary[s] + ' ' + s; });
    return bad.length ? 'Oversight: ' + bad.join(', ') : 'Oversight: all ok';
  }

  /* -- building blocks --------------------------------------------------------------- */

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  function fill(node, children) {
    while (node.firstChild) node.removeChild(node.firstChild);
    children.forEach(function (child) {
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
  }

  function joined(parts, separator) {
    var out = [];
    parts.forEach(function (part, i) {
      if (i) out.push(separator);
      out.push(part);
    });
    return out;
  }

  function isWebLink(url) {
    return /^https?:\/\//i.test(url);
  }

  /* -- the page ---------------------------------------------------------------------- */

  function agentLine(doc) {
    var agent = doc.agent;
    var ready = agent.ready
      ? [el('span', {class: 'ready yes'}, ['ready'])]
      : [el('span', {class: 'ready no'}, ['not ready']), ' ',
         el('span', {class: 'muted'}, ['(' + agent.ready_reason + ')'])];
    var shard = agent.shard
      ? ' · shard ' + agent.shard.index + '/' + agent.shard.total + ' (' + agent.shard.probes +
        (agent.shard.probes === 1 ? ' probe)' : ' probes)')
      : '';
    return ready.concat([
      ' · agent ' + agent.version + shard + ' · config ' + agent.config.source + ' · updated ',
      el('time', {id: 'updated'}, [clock(doc.generated)])
    ]);
  }

  function summary(doc) {
    var out = joined(STATES.map(function (s) {
      return el('span', {class: 'count s-' + s}, [doc.summary[s] + ' ' + s]);
    }), ' ');
    if (doc.compliance) {
      out.push(' ', el('span', {class: 'count'}, ['compliance ' + percent(doc.compliance.score)]));
    }
    return out;
  }

  function patternSection(name, pattern, doc, history) {
    var said = [pattern.owner];
    if (doc.compliance) said.push('compliance ' + percent(doc.compliance.patterns[name]));
    var cards = worstFirst(pattern.integrations).map(function (entry) {
      return integrationCard(name, entry[0], entry[1], doc, history);
    });
    return el('section', {class: 'pattern', 'data-pattern': name}, [
      el('h2', {}, [name + ' ', el('span', {class: 'muted'}, [said.join(' · ')])])
    ].concat(cards));
  }

  function integrationCard(pattern, name, data, doc, history) {
    var key = pattern + '/' + name;
    var head = el('div', {class: 'head'}, [
      el('span', {class: 'state s-' + data.state}, [data.state]), ' ',
      el('h3', {}, [name]), ' ',
      el('span', {class: 'since', 'data-since': String(data.since)},
         ['for ' + forHowLong(doc.generated - data.since)]),
      data.flapping ? ' ' : null,
      data.flapping ? el('span', {class: 'flag'}, ['flapping']) : null
    ]);
    var meta = [data.criticality, data.scope, 'owner ' + data.owner];
    if (data.runbook) {
      meta.push(isWebLink(data.runbook)
        ? el('a', {href: data.runbook}, ['runbook']) : 'runbook ' + data.runbook);
    }
    if (data.root_cause) meta.push('root cause ' + data.root_cause);
    var health = [el('span', {class: 'uptime', title: 'share of the kept runs that passed'},
                     ['uptime ' + percent(data.uptime)])];
    if (doc.compliance) health.push(complianceBadge(data));
    var probes = Object.keys(data.probes).map(function (probe) {
      return probeItem(key, probe, data.probes[probe], history);
    });
    return el('article', {class: 'integration s-' + data.state, 'data-key': key,
                          'data-state': data.state}, [
      head,
      data.reason ? el('p', {class: 'reason'}, [data.reason]) : null,
      el('p', {class: 'meta'}, joined(meta, ' · ')),
      el('p', {class: 'meta'}, joined(health, ' · ')),
      el('ul', {class: 'probes'}, probes),
      calls(data.flows)
    ]);
  }

  function complianceBadge(data) {
    var failing = data.compliance_failing || [];
    var score = data.compliance_score;
    var kind = failing.length ? 'fail' : score !== null && score !== undefined ? 'pass' : 'none';
    var fails = failing.length ? ': fails ' + failing.join(', ') : '';
    return el('span', {class: 'badge ' + kind}, ['compliance ' + percent(score) + fails]);
  }

  function probeItem(key, name, data, history) {
    var id = key + '/' + name;
    var latest = data.latest;
    var said;
    if (!latest) {
      said = el('span', {class: 'latest pending'}, ['pending']);
    } else if (latest.success) {
      said = el('span', {class: 'latest ok'}, ['ok ' + millis(latest.duration_seconds)]);
    } else {
      said = el('span', {class: 'latest fail'}, [
        el('b', {}, [latest.reason || '']), ' ', el('span', {class: 'msg'}, [latest.message])
      ]);
    }
    return el('li', {class: 'probe'}, [
      el('div', {class: 'line'}, [
        el('a', {class: 'name', href: 'probe/' + id}, [name]), ' ',
        bars(history.probes[id], history.size), ' ',
        el('span', {class: 'pup'}, [percent(data.uptime)]), ' ',
        said
      ]),
      latest && latest.steps && latest.steps.length ? steps(latest.steps) : null
    ]);
  }

  function bars(runs, size) {
    var started = runs ? runs.started : [];
    var cells = [];
    var passed = 0;
    for (var n = Math.max(0, size - started.length); n > 0; n--) {
      cells.push(el('span', {class: 'bar none'}));
    }
    started.forEach(function (at, i) {
      var kind, word;
      if (!runs.success[i]) {
        kind = 'fail'; word = 'failed: ' + runs.reason[i];
      } else if (runs.breached[i]) {
        kind = 'warn'; word = 'passed over a threshold';
      } else {
        kind = 'pass'; word = 'passed';
      }
      if (runs.success[i]) passed += 1;
      cells.push(el('span', {class: 'bar ' + kind, title: clock(at) + ' · ' + word + ' · ' +
                             millis(runs.duration_seconds[i])}));
    });
    var label = started.length
      ? 'last ' + started.length + ' runs: ' + passed + ' passed, ' +
        (started.length - passed) + ' failed'
      : 'no runs yet';
    return el('span', {class: 'bars', role: 'img', 'aria-label': label}, cells);
  }

  function steps(list) {
    return el('ol', {class: 'steps'}, list.map(function (step) {
      var took = millis(step.duration_seconds);
      var said = step.success ? [' ok ' + took] : [
        ' ', el('b', {}, [step.reason || '']), ' ' + took + ' ',
        el('span', {class: 'msg'}, [step.message])
      ];
      var called = step.integration
        ? [' ', el('span', {class: 'muted'}, ['(' + step.integration + ')'])] : [];
      return el('li', {class: step.success ? 'ok' : 'fail'},
                [step.name].concat(called, said));
    }));
  }

  function calls(flows) {
    if (!flows || !flows.length) return null;
    var lines = flows.map(function (flow) {
      var parts = flow.steps.map(function (step) {
        if (!step.ran) return [step.name + ': not reached'];
        if (step.success) return [step.name + ': ok ' + millis(step.duration_seconds)];
        return [step.name + ': ', el('b', {}, [step.reason || ''])];
      });
      var line = ['flow ' + flow.probe + ': '];
      parts.forEach(function (part, i) { line = line.concat(i ? [', '] : [], part); });
      return line;
    });
    var children = [];
    lines.forEach(function (line, i) {
      if (i) children.push(el('br'));
      children = children.concat(line);
    });
    return el('p', {class: 'calls'}, children);
  }

  function render(doc, history) {
    document.title = pageTitle(doc.summary);
    fill(document.getElementById('agent'), agentLine(doc));
    fill(document.getElementById('summary'), summary(doc));
    var names = Object.keys(doc.patterns)
      .map(function (name, i) { return [name, i]; })
      .sort(function (a, b) {
        return rank(STATES, worstState(doc.patterns[a[0]])) -
          rank(STATES, worstState(doc.patterns[b[0]])) || a[1] - b[1];
      });
    fill(document.getElementById('patterns'), names.map(function (entry) {
      return patternSection(entry[0], doc.patterns[entry[0]], doc, history);
    }));
  }

  /* -- time, polling and the stale banner ------------------------------------------- */

  function tick() {
    var now = Date.now() / 1000 + skew;
    var banner = document.getElementById('stale');
    if (failure === null) {
      Array.prototype.forEach.call(document.querySelectorAll('.since[data-since]'), function (node) {
        node.textContent = 'for ' + forHowLong(now - Number(node.getAttribute('data-since')));
      });
      banner.hidden = true;
      body.classList.remove('is-stale');
      return;
    }
    banner.textContent = 'Not updated since ' + clock(generated) + ' (' +
      forHowLong(now - generated) + ' ago): ' + failure + '. What this page shows may be ' +
      'out of date; it tries again every ' + forHowLong(refresh / 1000) + '.';
    banner.hidden = false;
    body.classList.add('is-stale');
  }

  function fetchJSON(url, signal) {
    return fetch(url, {cache: 'no-store', credentials: 'same-origin', signal: signal})
      .then(function (response) {
        if (!response.ok) throw new Error('the agent answered HTTP ' + response.status);
        return response.json();
      });
  }

  function poll() {
    var began = Date.now();
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, Math.min(refresh, 10000));
    Promise.all([fetchJSON('api/v1/status' + scope, controller.signal),
                 fetchJSON('api/v1/history' + scope, controller.signal)])
      .then(function (docs) {
        try {
          render(docs[0], docs[1]);
        } catch (error) {
          failure = 'the page could not show the agent\'s answer (' + error.message + ')';
          return;
        }
        generated = docs[0].generated;
        skew = generated - Date.now() / 1000;
        failure = null;
      })
      .catch(function (error) {
        var said = error && error.message ? error.message : '';
        failure = said.indexOf('the agent answered') === 0 ? said : 'the agent does not answer';
      })
      .then(function () {
        clearTimeout(timer);
        polls += 1;
        body.setAttribute('data-polls', String(polls));
        body.setAttribute('data-state', failure === null ? 'live' : 'stale');
        tick();
        // a page of thousands of probes takes the agent a while to answer: ask less often
        setTimeout(poll, Math.max(refresh, 5 * (Date.now() - began)));
      });
  }

  setInterval(tick, 1000);
  setTimeout(poll, refresh);
})();
