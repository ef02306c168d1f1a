/*! token-agent embed: <script src="AGENT/embed.js" async></script> renders the
 * feed into every <div data-token-agent data-account data-limit data-tag>.
 * It builds the DOM with createElement and textContent (no markup from data,
 * no inline styles, no eval), so it runs under a strict Content-Security-Policy;
 * the look is in AGENT/embed.css, linked once. The token stays on the agent.
 * /feed.html renders the same markup on the server (templates/feed.html). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) return;
  var agent = new URL(script.src).origin;
  var SIZES = "(min-width: 640px) 33vw, 50vw";
  var MAX_ALT = 240;

  function el(tag, className) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    return node;
  }

  // Only web URLs reach an href or src: never javascript: or data:.
  function web(url) {
    try {
      var parsed = new URL(url);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  // The author's own alt text where Instagram has it, else the caption.
  function altText(post) {
    var text = (post.alt_text || "").trim() ? post.alt_text : post.caption || "";
    text = text.trim().replace(/\s+/g, " ");
    var chars = Array.from(text);
    if (chars.length > MAX_ALT) text = chars.slice(0, MAX_ALT - 1).join("") + "\u2026";
    if (text) return text;
    return post.username ? "Instagram post by @" + post.username : "Instagram post";
  }

  function mark(kind, label, glyph) {
    var box = el("span", "ta-feed__mark ta-feed__mark--" + kind);
    var sign = el("span");
    sign.setAttribute("aria-hidden", "true");
    sign.textContent = glyph;
    var words = el("span", "ta-feed__sr");
    words.textContent = label;
    box.append(sign, words);
    return box;
  }

  // The post's picture: the agent's copy, else a video's thumbnail, an
  // album's first item's, or the image itself; never a video file.
  function pictureUrl(post) {
    if (post.mirror) return web(post.mirror.src);
    var first = post.children && post.children.data && post.children.data[0];
    var shown = post.media_type === "CAROUSEL_ALBUM" && first ? first : post;
    return web(shown.media_type === "VIDEO" ? shown.thumbnail_url : shown.media_url);
  }

  // A post without a picture (a reel whose media Instagram withholds, a
  // hashtag's video, an image that failed to load) is a tile that says so.
  function placeholder(post) {
    var box = el("span", "ta-feed__placeholder");
    box.setAttribute("role", "img");
    box.setAttribute("aria-label", altText(post));
    var words = el("span", "ta-feed__placeholder-text");
    words.setAttribute("aria-hidden", "true");
    words.textContent = post.media_type === "VIDEO" ? "Watch on Instagram" : "View on Instagram";
    box.append(words);
    return box;
  }

  function image(post) {
    var mirror = post.mirror;
    var src = pictureUrl(post);
    if (!src) return placeholder(post);
    var img = el("img", "ta-feed__image");
    img.setAttribute("src", src);
    if (mirror && mirror.srcset) {
      img.setAttribute("srcset", mirror.srcset);
      img.setAttribute("sizes", SIZES);
    }
    // Sized before it loads, so the grid never shifts.
    img.setAttribute("width", String((mirror && mirror.width) || 1080));
    img.setAttribute("height", String((mirror && mirror.height) || 1080));
    img.setAttribute("alt", altText(post));
    img.setAttribute("loading", "lazy");
    img.setAttribute("decoding", "async");
    var picture = img;
    if (mirror && mirror.webp_srcset) {
      picture = el("picture", "ta-feed__picture");
      var source = el("source");
      source.setAttribute("type", "image/webp");
      source.setAttribute("srcset", mirror.webp_srcset);
      source.setAttribute("sizes", SIZES);
      picture.append(source, img);
    }
    img.addEventListener("error", function () {
      picture.replaceWith(placeholder(post));
    }, { once: true });
    return picture;
  }

  function item(post) {
    var li = el("li", "ta-feed__item");
    var link = el("a", "ta-feed__link");
    var href = web(post.permalink);
    if (href) {
      link.setAttribute("href", href);
      link.setAttribute("rel", "noopener");
    }
    link.append(image(post));
    if (post.media_type === "CAROUSEL_ALBUM") link.append(mark("carousel", "Album", "\u2750"));
    if (post.media_type === "VIDEO") link.append(mark("video", "Video", "\u25B6"));
    li.append(link);
    return li;
  }

  function feedUrl(box) {
    var url = new URL("/feed.json", agent);
    [["account", "account"], ["limit", "limit"], ["tag", "tag"]].forEach(function (pair) {
      var value = box.getAttribute("data-" + pair[0]);
      if (value) url.searchParams.set(pair[1], value);
    });
    return url.href;
  }

  function setState(box, state) {
    ["loading", "ready", "error"].forEach(function (s) {
      box.classList.toggle("ta-feed--" + s, s === state);
    });
    box.setAttribute("aria-busy", state === "loading" ? "true" : "false");
  }

  function render(box) {
    if (box.classList.contains("ta-feed")) return;
    box.classList.add("ta-feed");
    var grid = el("ul", "ta-feed__grid");
    var more = el("button", "ta-feed__more");
    more.type = "button";
    more.textContent = "Load more";
    more.hidden = true;
    var error = el("p", "ta-feed__error");
    error.setAttribute("role", "status");
    box.replaceChildren(grid, more, error);
    var next = feedUrl(box);

    function load() {
      setState(box, "loading");
      more.disabled = true;
      error.textContent = "";
      fetch(next, { credentials: "omit" })
        .then(function (response) {
          if (!response.ok) throw new Error("the agent answered " + response.status);
          return response.json();
        })
        .then(function (page) {
          (page.data || []).forEach(function (post) {
            grid.append(item(post));
          });
          next = page.paging && page.paging.next && web(page.paging.next);
          more.hidden = !next;
          if (!next) more.remove();
          setState(box, "ready");
        })
        .catch(function (reason) {
          console.warn("token-agent embed: " + reason.message);
          error.textContent = "Instagram posts cannot be shown right now.";
          setState(box, "error");
        })
        .finally(function () {
          more.disabled = false;
        });
    }

    more.addEventListener("click", load);
    load();
  }

  if (!document.querySelector("link[data-token-agent-style]")) {
    var style = el("link");
    style.setAttribute("rel", "stylesheet");
    style.setAttribute("href", agent + "/embed.css");
    style.setAttribute("data-token-agent-style", "");
    document.head.append(style);
  }

  function start() {
    document.querySelectorAll("div[data-token-agent]").forEach(render);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
