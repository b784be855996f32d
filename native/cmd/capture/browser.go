package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// A browser is launched headful (under the caller's X display, Xvfb on a
// server: headless mode changes the User-Agent and the client hints) with
// a fresh profile that trusts the capture CA, and with no flag that
// touches the network stack.
type browser struct {
	name    string // "chromium" or "firefox-esr"
	binary  string
	version string // exact, like 156.0.8078.114 or 153.8.0 (Firefox's "esr" suffix dropped)
}

var versionRE = regexp.MustCompile(`\d+(\.\d+)+`)

// detectBrowser asks binary for its version.
func detectBrowser(name, binary string) (*browser, error) {
	out, err := exec.Command(binary, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %w", binary, err)
	}
	// The Debian chromium wrapper may print shell noise before the version line.
	var line string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "Chromium") || strings.Contains(l, "Firefox") || strings.Contains(l, "Chrome") {
			line = l
		}
	}
	v := versionRE.FindString(line)
	if v == "" {
		return nil, fmt.Errorf("no version in %q", out)
	}
	return &browser{name: name, binary: binary, version: v}, nil
}

// prepare sets up a fresh profile under dir and returns the command line
// and the environment that open url.
func (b *browser) prepare(dir, url string, caPEM []byte) ([]string, []string, error) {
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, nil, err
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		return nil, nil, err
	}
	// A fresh HOME keeps the user's NSS database, downloads and settings
	// out of the capture.
	env := append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"), "XDG_DOWNLOAD_DIR="+filepath.Join(home, "Downloads"))
	switch b.name {
	case "chromium":
		// Chromium on Linux trusts the anchors of the user's NSS database.
		nss := filepath.Join(home, ".pki", "nssdb")
		if err := trustCA(nss, caFile); err != nil {
			return nil, nil, err
		}
		args := []string{b.binary, "--user-data-dir=" + filepath.Join(dir, "profile"), "--no-first-run"}
		if os.Geteuid() == 0 {
			// Chromium refuses to run as root with its sandbox; the sandbox
			// confines renderers and does not touch the network stack.
			args = append(args, "--no-sandbox")
		}
		return append(args, url), env, nil
	case "firefox-esr", "firefox":
		profile := filepath.Join(dir, "profile")
		if err := trustCA(profile, caFile); err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(firefoxPrefs), 0o644); err != nil {
			return nil, nil, err
		}
		return []string{b.binary, "--profile", profile, "--no-remote", "--new-instance", url}, env, nil
	}
	return nil, nil, fmt.Errorf("unknown browser %q", b.name)
}

// firefoxPrefs keep first-run pages and prompts from covering the test
// page; none of them touches TLS or HTTP.
const firefoxPrefs = `user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.aboutwelcome.enabled", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("datareporting.policy.dataSubmissionPolicyBypassNotification", true);
user_pref("toolkit.startup.max_resumed_crashes", -1);
user_pref("browser.download.always_ask_before_handling_new_types", false);
`

// trustCA creates an NSS database in dir that trusts caFile to issue
// server certificates.
func trustCA(dir, caFile string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	db := "sql:" + dir
	for _, args := range [][]string{
		{"-N", "-d", db, "--empty-password"},
		{"-A", "-d", db, "-n", "capture-ca", "-t", "C,,", "-i", caFile},
	} {
		if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("certutil %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// runBrowser runs argv until done closes or timeout passes, then ends it
// and everything it started (its own process group).
// effective is the command line of the process as it ran, which differs
// from argv when argv[0] is a wrapper script that execs the browser with
// more flags (Debian's chromium does).
func runBrowser(argv, env []string, logFile string, done <-chan struct{}, grace, timeout time.Duration) (finished bool, effective []string, err error) {
	log, err := os.Create(logFile)
	if err != nil {
		return false, nil, err
	}
	defer log.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return false, nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	select {
	case <-done:
		finished = true
		// Late requests, such as a favicon, still get recorded.
		select {
		case <-time.After(grace):
		case <-exited:
		}
	case <-ctx.Done():
	case <-exited:
	}
	pgid := cmd.Process.Pid
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pgid)); err == nil {
		effective = strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	// Children that outlived the leader are in the group too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return finished, effective, nil
}
