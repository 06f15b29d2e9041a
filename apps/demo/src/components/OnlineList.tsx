import type { OnlineUser } from '../online'

/** Who is in the room, from presence (`useRoomPresence`): one name per user, with its tab count past one. */
export function OnlineList({ users }: { users: readonly OnlineUser[] }) {
  return (
    <div className="online" data-testid="online">
      <span className="online-label">Online ({users.length}):</span>{' '}
      {users.map((user) => (
        <span key={user.name} className="online-user" data-testid="online-user">
          {user.name}
          {user.tabs > 1 && <span className="online-tabs"> ({user.tabs} tabs)</span>}
        </span>
      ))}
    </div>
  )
}
