import type { OnlineUser } from '../online'

/**
 * Who is in the room, from presence (`useRoomPresence`): one name per user, with its tab count past one,
 * and why presence failed when it did (the room is full, presence is not allowed).
 */
export function OnlineList({ users, error }: { users: readonly OnlineUser[]; error?: string | undefined }) {
  return (
    <div className="online" data-testid="online">
      <span className="online-label">Online ({users.length}):</span>{' '}
      {users.map((user) => (
        <span key={user.name} className="online-user" data-testid="online-user">
          {user.name}
          {user.tabs > 1 && <span className="online-tabs"> ({user.tabs} tabs)</span>}
        </span>
      ))}
      {error && (
        <span className="online-error" data-testid="online-error">
          {' '}
          presence: {error}
        </span>
      )}
    </div>
  )
}
