// Command hanzoclient is what Hanzo's Go services do with a connection string, run against a real server:
// lib/pq (database/sql: IAM through xorm, Commerce) and pgx v4 (its default statement cache).
//
//	hanzoclient pq|pgx exercise   DSN from $CLIENT_DSN: connect, query, migration-like DDL as the service
//	                              role, then named prepared statements from 6 concurrent sessions × 5 rounds
//	hanzoclient parse             JSON lines of {"dsn": …} on stdin → what each Go parser reads from them
//
// Built offline from Debian's packages: GO111MODULE=off GOPATH=<tmp>:/usr/share/gocode go build.
// It prints one JSON object per result and never prints a password it was not asked to parse.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
	"github.com/lib/pq"
)

const (
	sessions = 6
	rounds   = 5
)

type report struct {
	Driver   string   `json:"driver"`
	User     string   `json:"user"`
	Database string   `json:"database"`
	Columns  []string `json:"columns"`
	Sessions int      `json:"sessions"`
	Rounds   int      `json:"rounds"`
	Ok       int      `json:"ok"`
	Failures []string `json:"failures"`
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "parse" {
		parse()
		return
	}
	if len(os.Args) != 3 || os.Args[2] != "exercise" || (os.Args[1] != "pq" && os.Args[1] != "pgx") {
		fmt.Fprintln(os.Stderr, "usage: hanzoclient pq|pgx exercise (DSN in $CLIENT_DSN) | hanzoclient parse")
		os.Exit(2)
	}
	dsn := os.Getenv("CLIENT_DSN")
	table := os.Getenv("CLIENT_TABLE")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var r report
	var err error
	if os.Args[1] == "pq" {
		r, err = exercisePq(ctx, dsn, table)
	} else {
		r, err = exercisePgx(ctx, dsn, table)
	}
	if err != nil {
		// Errors from the drivers name the server's complaint, never the DSN.
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(r)
	if len(r.Failures) > 0 {
		os.Exit(1)
	}
}

// The migration a service would run: its own table, a new column, an index.
func ddl(table string) []string {
	return []string{
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (id bigserial PRIMARY KEY, session int NOT NULL, round int NOT NULL)", table),
		fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS created timestamptz NOT NULL DEFAULT now()", table),
		fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s_session ON %s (session, round)", table, table),
	}
}

// A session's two statements: insert a row for (session, round), count the session's rows.
type session struct {
	insert func(s, round int) error
	count  func(s int) (int64, error)
	close  func()
}

// What each driver provides to exercise: its first connection, and new sessions on their own connections.
type driver struct {
	name    string
	who     func() (string, string, error)
	exec    func(string) error
	strings func(string) ([]string, error)
	session func(table string) (session, error)
}

// The exercise, the same for both drivers: who am I, the DDL, then sessions × rounds concurrently.
func exercise(d driver, table string) (report, error) {
	r := report{Driver: d.name, Sessions: sessions, Rounds: rounds, Failures: []string{}}
	var err error
	if r.User, r.Database, err = d.who(); err != nil {
		return r, fmt.Errorf("%s query: %w", d.name, err)
	}
	for _, stmt := range ddl(table) {
		if err := d.exec(stmt); err != nil {
			return r, fmt.Errorf("%s DDL: %w", d.name, err)
		}
	}
	r.Columns, err = d.strings(fmt.Sprintf("SELECT column_name FROM information_schema.columns WHERE table_name = '%s' ORDER BY ordinal_position", table))
	if err != nil {
		return r, fmt.Errorf("%s columns: %w", d.name, err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for s := 0; s < sessions; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			fail := func(err error) { mu.Lock(); r.Failures = append(r.Failures, err.Error()); mu.Unlock() }
			sess, err := d.session(table)
			if err != nil {
				fail(err)
				return
			}
			defer sess.close()
			for round := 1; round <= rounds; round++ {
				if err := sess.insert(s, round); err != nil {
					fail(err)
					continue
				}
				n, err := sess.count(s)
				if err != nil {
					fail(err)
					continue
				}
				if n < int64(round) {
					fail(fmt.Errorf("session %d round %d: %d rows", s, round, n))
					continue
				}
				mu.Lock()
				r.Ok++
				mu.Unlock()
			}
		}(s)
	}
	wg.Wait()
	return r, nil
}

// The rows of one text column, from database/sql or pgx.
func scanStrings(rows interface {
	Next() bool
	Scan(...interface{}) error
	Err() error
}) ([]string, error) {
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func insertSQL(table string) string {
	return fmt.Sprintf("INSERT INTO %s (session, round) VALUES ($1, $2) RETURNING id", table)
}

func countSQL(table string) string {
	return fmt.Sprintf("SELECT count(*) FROM %s WHERE session = $1", table)
}

// lib/pq through database/sql: Prepare sends a named Parse ("1", "2", … per connection); each statement
// outside a transaction is a transaction of its own, so behind a transaction pooler every round may run on
// another server connection.
func exercisePq(ctx context.Context, dsn, table string) (report, error) {
	connector, err := pq.NewConnector(dsn)
	if err != nil {
		return report{}, fmt.Errorf("lib/pq: %w", err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetMaxOpenConns(sessions + 1)
	return exercise(driver{
		name: "lib/pq",
		who: func() (u, d string, err error) {
			err = db.QueryRowContext(ctx, "SELECT current_user, current_database()").Scan(&u, &d)
			return
		},
		exec: func(q string) error { _, err := db.ExecContext(ctx, q); return err },
		strings: func(q string) ([]string, error) {
			rows, err := db.QueryContext(ctx, q)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			return scanStrings(rows)
		},
		session: func(table string) (session, error) {
			conn, err := db.Conn(ctx)
			if err != nil {
				return session{}, err
			}
			insert, err := conn.PrepareContext(ctx, insertSQL(table))
			if err != nil {
				conn.Close()
				return session{}, err
			}
			count, err := conn.PrepareContext(ctx, countSQL(table))
			if err != nil {
				insert.Close()
				conn.Close()
				return session{}, err
			}
			return session{
				insert: func(s, round int) error { var id int64; return insert.QueryRowContext(ctx, s, round).Scan(&id) },
				count:  func(s int) (n int64, err error) { err = count.QueryRowContext(ctx, s).Scan(&n); return },
				close:  func() { insert.Close(); count.Close(); conn.Close() },
			}, nil
		},
	}, table)
}

// pgx v4 with its defaults: every parameterised query goes through the connection's statement cache, which
// prepares it under a name (lrupsc_<conn>_<n>) and reuses the name afterwards.
func exercisePgx(ctx context.Context, dsn, table string) (report, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return report{}, fmt.Errorf("pgx connect: %w", err)
	}
	defer conn.Close(ctx)
	return exercise(driver{
		name: "pgx v4",
		who: func() (u, d string, err error) {
			err = conn.QueryRow(ctx, "SELECT current_user, current_database()").Scan(&u, &d)
			return
		},
		exec: func(q string) error { _, err := conn.Exec(ctx, q); return err },
		strings: func(q string) ([]string, error) {
			rows, err := conn.Query(ctx, q)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			return scanStrings(rows)
		},
		session: func(table string) (session, error) {
			c, err := pgx.Connect(ctx, dsn)
			if err != nil {
				return session{}, err
			}
			return session{
				insert: func(s, round int) error { var id int64; return c.QueryRow(ctx, insertSQL(table), s, round).Scan(&id) },
				count:  func(s int) (n int64, err error) { err = c.QueryRow(ctx, countSQL(table), s).Scan(&n); return },
				close:  func() { c.Close(ctx) },
			}, nil
		},
	}, table)
}

// What a parser read from a DSN, or why it refused it.
type parsed struct {
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	Host     string `json:"host,omitempty"`
	Port     string `json:"port,omitempty"`
	Database string `json:"database,omitempty"`
	Error    string `json:"error,omitempty"`
}

type parseResult struct {
	Pgx        parsed `json:"pgx"`
	Pq         parsed `json:"pq"`
	XormIo     parsed `json:"xormIo"`
	HanzoXorm  parsed `json:"hanzoXorm"`
	SearchPath string `json:"searchPath"`
}

func errOf(err error) parsed { return parsed{Error: err.Error()} }

// lib/pq's own parser (NewConnector: ParseURL, then its keyword parser), read back from the connector.
func parsePq(dsn string) parsed {
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return errOf(err)
	}
	opts := reflect.ValueOf(c).Elem().FieldByName("opts")
	get := func(k string) string {
		v := opts.MapIndex(reflect.ValueOf(k))
		if !v.IsValid() {
			return ""
		}
		return v.String()
	}
	return parsed{User: get("user"), Password: get("password"), Host: get("host"), Port: get("port"), Database: get("dbname")}
}

func parsePgx(dsn string) parsed {
	c, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return errOf(err)
	}
	return parsed{User: c.User, Password: c.Password, Host: c.Host, Port: fmt.Sprint(c.Port), Database: c.Database}
}

// The database name as xorm reads a URL-form DSN: the two rules of render/connection.ts, written from
// xorm-io/xorm and hanzoai/xorm dialects/postgres.go (pqDriver.Parse, parseURL), run with Go's net/url.
func xormURL(dsn string) parsed {
	u, err := url.Parse(dsn)
	if err != nil {
		return errOf(err)
	}
	if u.Scheme != "postgresql" && u.Scheme != "postgres" {
		return errOf(fmt.Errorf("invalid connection protocol: %s", u.Scheme))
	}
	if u.Path == "" {
		return errOf(fmt.Errorf("dbname is empty"))
	}
	return parsed{Database: u.Path[1:]}
}

func parseXormIo(dsn string) parsed {
	if strings.HasPrefix(dsn, "postgresql://") || strings.HasPrefix(dsn, "postgres://") {
		return xormURL(dsn)
	}
	// Keyword form: split on every space, then each part on every "=".
	o := map[string]string{}
	for _, part := range strings.Split(strings.TrimSpace(dsn), " ") {
		kv := strings.Split(part, "=")
		if len(kv) < 2 {
			return errOf(fmt.Errorf("invalid option: %q", part))
		}
		o[kv[0]] = kv[1]
	}
	if o["dbname"] == "" {
		return errOf(fmt.Errorf("dbname is empty"))
	}
	return parsed{Database: o["dbname"]}
}

func parseHanzoXorm(dsn string) parsed {
	if strings.Contains(dsn, "://") {
		if !strings.HasPrefix(dsn, "postgresql://") && !strings.HasPrefix(dsn, "postgres://") {
			return errOf(fmt.Errorf("unsupported protocol"))
		}
		return xormURL(dsn)
	}
	return errOf(fmt.Errorf("keyword DSN: not rendered by hanzo-sql"))
}

// hanzoai/iam util.GetValueFromDataSourceName("search_path", dsn), used by object/ormer.go.
var searchPath = regexp.MustCompile("search_path=([^ ]+)")

func parse() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var line struct {
			Dsn string `json:"dsn"`
		}
		if err := json.Unmarshal(in.Bytes(), &line); err != nil {
			fmt.Fprintln(os.Stderr, "bad input line:", err)
			os.Exit(2)
		}
		r := parseResult{Pgx: parsePgx(line.Dsn), Pq: parsePq(line.Dsn), XormIo: parseXormIo(line.Dsn), HanzoXorm: parseHanzoXorm(line.Dsn)}
		if m := searchPath.FindStringSubmatch(line.Dsn); len(m) >= 2 {
			r.SearchPath = m[1]
		}
		_ = out.Encode(r)
	}
}
