import type { NutEventName } from './types.js';

/**
 * upsmon's stock NOTIFYMSG texts (clients/upsmon.h `notifylist`). `%s` is the UPS name; ALARM
 * carries the ups.alarm text as a second `%s`. NUT's table has no OVER/TRIM/BOOST entries, so
 * those six follow the wording of its CAL/BYPASS pairs.
 */
export const DEFAULT_MESSAGES: Readonly<Record<NutEventName, string>> = {
  ONLINE: 'UPS %s on line power',
  ONBATT: 'UPS %s on battery',
  LOWBATT: 'UPS %s battery is low',
  FSD: 'UPS %s: forced shutdown in progress',
  COMMOK: 'Communications with UPS %s established',
  COMMBAD: 'Communications with UPS %s lost',
  NOCOMM: 'UPS %s is unavailable',
  REPLBATT: 'UPS %s battery needs to be replaced',
  SHUTDOWN: 'Auto logout and shutdown proceeding',
  CAL: 'UPS %s: calibration in progress',
  NOTCAL: 'UPS %s: calibration finished',
  OFF: 'UPS %s: administratively OFF or asleep',
  NOTOFF: 'UPS %s: no longer administratively OFF or asleep',
  BYPASS: 'UPS %s: on bypass (powered, not protecting)',
  NOTBYPASS: 'UPS %s: no longer on bypass',
  ALARM: 'UPS %s: one or more active alarms: [%s]',
  NOTALARM: 'UPS %s is no longer in an alarm state (no active alarms)',
  OVER: 'UPS %s: overloaded',
  NOTOVER: 'UPS %s: no longer overloaded',
  TRIM: 'UPS %s: trimming incoming voltage',
  NOTTRIM: 'UPS %s: no longer trimming incoming voltage',
  BOOST: 'UPS %s: boosting incoming voltage',
  NOTBOOST: 'UPS %s: no longer boosting incoming voltage',
};

/** Fills each `%s` in turn, as upsmon's snprintf does; missing arguments become ''. `%%` is a literal %. */
export function formatMessage(template: string, ...args: string[]): string {
  let next = 0;
  return template.replace(/%([s%])/g, (_, kind: string) => (kind === '%' ? '%' : (args[next++] ?? '')));
}
