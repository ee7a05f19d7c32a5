import createError from '@fastify/error'

/** An option given at registration is wrong; the message names it. */
export const InvalidOptionError = createError<[string, string]>(
  'FST_RTC_NOTIFY_INVALID_OPTION', 'fastify-rtc-notify: invalid option "%s": %s', 500, TypeError)

/** The handshake's path is not in the `paths` allow-list. */
export const PathNotAllowedError = createError('FST_RTC_NOTIFY_PATH_NOT_ALLOWED', 'path not allowed', 404)

/** The handshake's Host header is missing or not in the `hosts` allow-list. */
export const HostNotAllowedError = createError('FST_RTC_NOTIFY_HOST_NOT_ALLOWED', 'host not allowed', 403)

/** The handshake's Origin header is not in the `origins` allow-list. */
export const OriginNotAllowedError = createError('FST_RTC_NOTIFY_ORIGIN_NOT_ALLOWED', 'origin not allowed', 403)

/** The room id is empty, too long, or not URL-safe. */
export const BadRoomIdError = createError<[string]>('FST_RTC_NOTIFY_BAD_ROOM_ID', 'bad room id: %s', 400)

/** The room already has two peers. */
export const RoomFullError = createError('FST_RTC_NOTIFY_ROOM_FULL', 'room is full', 400)

/** The `authorize` option refused the handshake. */
export const UnauthorizedError = createError('FST_RTC_NOTIFY_UNAUTHORIZED', 'not authorized', 403)

/** A configured cap on rooms or peers is reached. */
export const CapacityError = createError<[string]>('FST_RTC_NOTIFY_AT_CAPACITY', 'server at capacity: %s', 503)

/** The room store cannot take joins now (e.g. Redis unreachable). */
export const StoreUnavailableError = createError('FST_RTC_NOTIFY_STORE_UNAVAILABLE', 'room store unavailable', 503)

/** The resume token is unknown, expired, or for another room. */
export const BadResumeTokenError = createError<[string]>('FST_RTC_NOTIFY_BAD_RESUME_TOKEN', 'cannot resume: %s', 400)

/** The server is shutting down. */
export const ShuttingDownError = createError('FST_RTC_NOTIFY_SHUTTING_DOWN', 'server is shutting down', 503)

/** The handshake request is malformed (two Host headers, a target that is not a path, a bad query). */
export const BadRequestError = createError<[string]>('FST_RTC_NOTIFY_BAD_REQUEST', 'bad request: %s', 400)

/** `authorize` returned an identity that is not JSON-serializable, or larger than 4 KiB. */
export const BadIdentityError = createError<[string]>('FST_RTC_NOTIFY_BAD_IDENTITY', 'authorize returned a bad identity: %s', 500)

/** `fastify.notify.send()` was given data JSON cannot write (a function, a symbol). */
export const BadAppDataError = createError<[string]>('FST_RTC_NOTIFY_BAD_APP_DATA', 'send() data cannot be sent as JSON: %s', 500, TypeError)

/** A `roomSize` function returned something other than a whole number from 2 to 12. */
export const BadRoomSizeError = createError<[string]>('FST_RTC_NOTIFY_BAD_ROOM_SIZE', 'roomSize returned %s: expected a whole number from 2 to 12', 500)
