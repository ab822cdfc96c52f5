// The vendor's object model (`_genesys`, docs/dialect.md), as a script run on the shared global
// before lockdown (so it is frozen with the rest). What belongs to a session comes from the host
// through natives: __ors_interactions() (the session's interactions, by id, as the interaction
// events made them: a fresh copy at each read, the model is read-only to strategies;
// __ors_interactions(true): their ids in the order added) and __ors_sessionid().
#include "datamodel/ecmascript/ecmascript_internal.h"

namespace ors::dm::ecma {

const char kGenesysSource[] = R"JS(
(function (global) {
  'use strict';
  const interactionsOf = global.__ors_interactions;
  const sessionIdOf = global.__ors_sessionid;
  const request = global.__ors_request;
  const config = global.__ors_config;
  const documentUrl = global.__GetDocumentURL;
  // Attributes of a module request: those given (an interaction id left out means the session's
  // own call).
  function attrs(o) {
    const out = {};
    Object.keys(o).forEach(function (k) { if (o[k] !== undefined && o[k] !== null) out[k] = o[k]; });
    return out;
  }

  // Media types and their numbers, as getMediaIntValue gives them (the telephony library's for
  // the first twelve, the authoring tool's order after), with both spellings the vendor's
  // documents and libraries use for two of them.
  const media = ['TMediaVoice', 'TMediaVoIP', 'TMediaEMail', 'TMediaVMail', 'TMediaSMail', 'TMediaChat',
                 'TMediaVideo', 'TMediaCobrowsing', 'TMediaWhiteboard', 'TMediaAppSharing', 'TMediaWebform',
                 'TMediaWorkItem', 'TMediaCallback', 'TMediaFax', 'TMediaIMChat', 'TMediaBusinessEvent',
                 'TMediaAlert', 'TMediaSMS', 'TMediaOutboundPreview', 'TMediaOpenMedia', 'TMediaNativeSMS'];
  const mediaType = {};
  media.forEach(function (m, i) { mediaType[m] = i; });
  mediaType.TMediaWebForm = mediaType.TMediaWebform;
  mediaType.TMediaCoBrowsing = mediaType.TMediaCobrowsing;
  function names(list) {
    const o = {};
    list.forEach(function (n) { o[n] = n; });
    return o;
  }
  // Configuration DN types (the configuration server's numbering), for resource targets.
  const dnTypes = ['CFGNoDN', 'CFGExtension', 'CFGACDPosition', 'CFGACDQueue', 'CFGRoutingPoint',
                   'CFGVirtACDQueue', 'CFGVirtRoutingPoint', 'CFGEAPort', 'CFGVoiceMail', 'CFGCellular', 'CFGCP',
                   'CFGFAX', 'CFGData', 'CFGMusic', 'CFGTrunk', 'CFGTrunkGroup', 'CFGTieLine', 'CFGTieLineGroup',
                   'CFGMixed', 'CFGExtRoutingPoint', 'CFGDestinationLabel', 'CFGServiceNumber', 'CFGRoutingQueue',
                   'CFGCommDN', 'CFGEmail', 'CFGVoIP', 'CFGVideo', 'CFGChat', 'CFGCoBrowse', 'CFGVoIPService',
                   'CFGWorkflow', 'CFGAccessResource', 'CFGGVPDID'];
  const resourceType = { any: -1 };
  dnTypes.forEach(function (t, i) { resourceType[t] = i; });

  // getConfigOption's lookup sequences: where the search for an option starts, among the objects
  // whose annexes hold options, searched in this order (docs/dialect.md).
  const lookupseq = { StartFromStrategy: -1, StartFromCDN: 0, StartFromTserver: 1, StartFromTenant: 2,
                      StartFromRouter: 3 };
  const annexLevels = ['strategy', 'dn', 'switch', 'tenant', 'router'];
  function own(o, k) { return o !== null && typeof o === 'object' && Object.prototype.hasOwnProperty.call(o, k); }
  // An option in one annex (section/option -> value): by its full name, or a name without a
  // section as the first option of that name in any section.
  function annexOption(annex, key) {
    if (annex === null || typeof annex !== 'object') return undefined;
    if (own(annex, key)) return annex[key];
    if (key.indexOf('/') >= 0) return undefined;
    const found = Object.keys(annex).find(function (k) { return k.substring(k.indexOf('/') + 1) === key; });
    return found === undefined ? undefined : annex[found];
  }
  // The session's first interaction's id (undefined before one is added).
  function firstId() { return interactionsOf(true)[0]; }
  // The routing point an interaction is at: its routepoint party, else the number it dialled.
  function routePointOf(ixn) {
    if (!ixn) return undefined;
    const party = (ixn.parties || []).find(function (p) { return p && p.devicetype === 'routepoint'; });
    if (party) return party.device;
    return ixn.voice ? ixn.voice.dnis : undefined;
  }

  // Time zones: IANA names, and the short names configuration tools use.
  const shortZones = {
    GMT: 'UTC', UTC: 'UTC', ECT: 'Europe/Paris', EET: 'Europe/Bucharest', CET: 'Europe/Paris',
    WET: 'Europe/Lisbon', ART: 'Africa/Cairo', EAT: 'Africa/Addis_Ababa', MET: 'Asia/Tehran',
    NET: 'Asia/Yerevan', PLT: 'Asia/Karachi', IST: 'Asia/Kolkata', BST: 'Asia/Dhaka',
    VST: 'Asia/Ho_Chi_Minh', CTT: 'Asia/Shanghai', JST: 'Asia/Tokyo', ACT: 'Australia/Darwin',
    AET: 'Australia/Sydney', SST: 'Pacific/Guadalcanal', NST: 'Pacific/Auckland',
    MIT: 'Pacific/Apia', HST: 'Pacific/Honolulu', AST: 'America/Anchorage', PST: 'America/Los_Angeles',
    PNT: 'America/Phoenix', MST: 'America/Denver', CST: 'America/Chicago', EST: 'America/New_York',
    IET: 'America/Indiana/Indianapolis', PRT: 'America/Puerto_Rico', CNT: 'America/St_Johns',
    AGT: 'America/Argentina/Buenos_Aires', BET: 'America/Sao_Paulo', CAT: 'Africa/Harare'
  };
  // The parts of a moment (the present by default) in a zone: {year, month, day, hour, minute,
  // second, weekday}.
  function partsIn(tz, when) {
    const zone = shortZones[tz] || tz || 'UTC';
    const f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', weekday: 'short', year: 'numeric', month: '2-digit',
      day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    const out = {};
    f.formatToParts(when || new Date()).forEach(function (p) { out[p.type] = p.value; });
    return out;
  }
  const weekdays = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

  const genesys = {
    ixn: {
      get interactions() { return interactionsOf(); },
      // The session's first interaction (undefined before one is added).
      get firstixnid() { return firstId(); },
      mediaType: mediaType,
      // An interaction's attached data (a copy), or one key's value (undefined when absent);
      // the session's first interaction when no id is given.
      getuData: function (interactionId, key) {
        const all = interactionsOf();
        const id = interactionId === undefined || interactionId === null ? firstId() : interactionId;
        const udata = id !== undefined && all[id] ? all[id].udata || {} : {};
        return key === undefined ? udata : udata[key];
      },
      getMediaIntValue: function (name) {
        return Object.prototype.hasOwnProperty.call(mediaType, name) ? mediaType[name] : -1;
      },
      // Attached data: asynchronous; interaction.udata.changed brings the interaction's new udata.
      setuData: function (data, interactionId) {
        return request('interaction', 'setudata', attrs({ interactionid: interactionId, udata: data }));
      },
      deleteuData: function (keys, interactionId) {
        return request('interaction', 'deleteudata',
                       attrs({ interactionid: interactionId, keys: Array.isArray(keys) ? keys : [keys] }));
      }
    },
    session: {
      get id() { return sessionIdOf(); },
      get server() { return config().server || {}; },
      get tenant() { return config().tenant; },
      get tenantid() { return config().tenantid; },
      // A configured list's item: its key/value object; with a key, that value ('' when absent).
      getListItemValue: function (list, item, key) {
        const lists = config().lists || {};
        const items = Object.prototype.hasOwnProperty.call(lists, list) ? lists[list] : undefined;
        if (items === undefined) throw new Error("getListItemValue: no list '" + list + "'");
        const entry = Object.prototype.hasOwnProperty.call(items, item) ? items[item] : undefined;
        if (key === undefined) return entry === undefined ? null : entry;
        return entry !== undefined && Object.prototype.hasOwnProperty.call(entry, key) ? entry[key] : '';
      },
      // An option from the annexes of the configuration objects, searched from `seq`
      // (StartFromStrategy when absent) through the strategy (the session's document), the
      // interaction's routing point, the switch, the tenant and the router; '' when none has it.
      getConfigOption: function (interactionId, key, seq) {
        if (typeof key !== 'string' || key === '') throw new Error('getConfigOption: no option name');
        const start = seq === undefined || seq === null ? lookupseq.StartFromStrategy : seq;
        const from = Object.keys(lookupseq).map(function (k) { return lookupseq[k]; }).indexOf(start);
        if (from < 0) throw new Error("getConfigOption: unknown lookup sequence '" + seq + "'");
        const annexes = config().annexes || {};
        for (let i = from; i < annexLevels.length; ++i) {
          const level = annexLevels[i];
          const objects = own(annexes, level) ? annexes[level] : undefined;
          if (objects === undefined) continue;
          let annex = objects;
          if (level === 'strategy') {
            const url = String(documentUrl());
            const name = Object.keys(objects).find(function (n) {
              return url === n || url.endsWith('/' + n);
            });
            annex = name === undefined ? undefined : objects[name];
          } else if (level === 'dn') {
            const all = interactionsOf();
            const id = interactionId === undefined || interactionId === null || interactionId === ''
              ? firstId() : interactionId;
            const dn = routePointOf(all[id]);
            annex = dn !== undefined && own(objects, dn) ? objects[dn] : undefined;
          }
          const value = annexOption(annex, key);
          if (value !== undefined) return value;
        }
        return '';
      },
      day: { Sunday: 0, Monday: 1, Tuesday: 2, Wednesday: 3, Thursday: 4, Friday: 5, Saturday: 6 },
      lookupseq: lookupseq,
      dayInZone: function (tz) { return weekdays[partsIn(tz).weekday]; },
      timeInZone: function (tz) {
        const p = partsIn(tz);
        return p.hour + ':' + p.minute + ':' + p.second;
      },
      dateInZone: function (tz) {
        const p = partsIn(tz);
        return p.year + '-' + p.month + '-' + p.day;
      },
      // Whether a day is in a configured special-day table: `day` a date ('YYYY-MM-DD' or a Date)
      // or absent for today in `tz`; with `useTime`, a day with a time range counts only while
      // the present time (in `tz`) is inside it.
      isSpecialDay: function (table, day, tz, useTime) {
        const tables = config().specialDays || {};
        if (!Object.prototype.hasOwnProperty.call(tables, table))
          throw new Error("isSpecialDay: no special-day table '" + table + "'");
        const days = tables[table];
        const now = partsIn(tz);
        let date = now.year + '-' + now.month + '-' + now.day;
        if (day instanceof Date) {
          if (isNaN(day.getTime())) throw new Error('isSpecialDay: an invalid Date');
          const d = partsIn(tz, day);  // its calendar day in the zone
          date = d.year + '-' + d.month + '-' + d.day;
        } else if (typeof day === 'string' && day !== '') {
          date = day;
        }
        const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
        if (!m) throw new Error("isSpecialDay: '" + date + "' is no date YYYY-MM-DD");
        const weekday = Object.keys(genesys.session.day)[new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])).getUTCDay()];
        const range = [date, date.substring(5), weekday].map(function (k) {
          return Object.prototype.hasOwnProperty.call(days, k) ? days[k] : undefined;
        }).find(function (r) { return r !== undefined; });
        if (range === undefined) return false;
        if (!useTime || range === '') return true;
        const time = now.hour + ':' + now.minute;
        return time >= range.substring(0, 5) && time < range.substring(6);
      }
    },
    queue: {
      rType: names(['RouteTypeAnnouncement', 'RouteTypeDDD', 'RouteTypeDefault', 'RouteTypeDirect',
                    'RouteTypeDirectAgent', 'RouteTypeGetFromDN', 'RouteTypeIDDD', 'RouteTypeLabel',
                    'RouteTypeOverwriteDNIS', 'RouteTypePostFeature', 'RouteTypeReject', 'RouteTypeUnknown']),
      usecapcond: names(['Never', 'Only', 'OnStatError']),
      overwriteType: names(['UseANI', 'UseConfig', 'UseDNIS', 'UseNone'])
    },
    voice: {
      overwriteType: names(['UseANI', 'UseConfig', 'UseDNIS', 'UseNone'])
    },
    resource: {
      resourceType: resourceType
    }
  };
  Object.defineProperty(global, '_genesys', { value: genesys, enumerable: false });
})(this);
)JS";

}  // namespace ors::dm::ecma
