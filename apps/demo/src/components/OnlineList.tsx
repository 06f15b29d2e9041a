/**
 * Who is in the room. It only renders the names it is given: today ChatRoom derives them from the chat's
 * join and leave notices (see `foldOnline`); presence (issue 14) will feed it instead.
 */
export function OnlineList({ users }: { users: readonly string[] }) {
  return (
    <div className="online" data-testid="online">
      <span className="online-label">Online ({users.length}):</span>{' '}
      {users.map((user) => (
        <span key={user} className="online-user">
          {user}
        </span>
      ))}
    </div>
  )
}
