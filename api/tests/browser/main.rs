//! Browser tests: headless Debian Chromium driven through chromedriver (WebDriver).
